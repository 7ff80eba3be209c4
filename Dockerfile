# One image for both ends of a Dataflow flex-template run (dataflow/README.md): the template launcher runs
# dataflow/main.py in it to build and submit the graph, and the workers use it as their SDK container
# (pass sdk_container_image), so launch and workers import the same installed package.
# Built by `make template` with Cloud Build; no local Docker is needed.

# The launcher binary comes from Google's launcher image for the same Python; pin a dated tag or digest
# for reproducible builds.
ARG LAUNCHER_IMAGE=gcr.io/dataflow-templates-base/python311-template-launcher-base:latest
FROM ${LAUNCHER_IMAGE} AS launcher

# Beam's SDK image: Python 3.11, apache-beam[gcp] and the worker boot binary. Keep the version equal to the
# apache-beam pin in setup.py (tests/test_dataflow.py checks it).
FROM apache/beam_python3.11_sdk:2.77.0

COPY --from=launcher /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher

WORKDIR /template
COPY setup.py pyproject.toml ./
COPY pipelines pipelines
COPY transforms transforms
COPY dataflow dataflow

# Installed from setup.py, not editable: its pins are the only dependency list, and Beam is already here
# at the pinned version. pip check fails the build on a conflict with the image's packages.
RUN pip install --no-cache-dir . && pip check

# The package is installed, so the launcher needs neither FLEX_TEMPLATE_PYTHON_SETUP_FILE nor a
# requirements file, and launches stage nothing.
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/dataflow/main.py

# Workers start through Beam's boot binary; the flex-template service calls the launcher binary itself.
ENTRYPOINT ["/opt/apache/beam/boot"]
