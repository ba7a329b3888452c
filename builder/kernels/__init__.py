"""Kernels the stages share: numba loops over Arrow's UTF-8 buffers, and mask-narrowed regex scans."""
