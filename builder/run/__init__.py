"""Running a build: the pipeline in units, the executors that run them, and the output folder's safety."""
