"""The Dagster project: Definitions, resources, sensors, jobs and the executor choice."""
