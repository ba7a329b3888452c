"""Compiled kernels: numba loops over Arrow's UTF-8 buffers, shared by the stages that need speed."""
