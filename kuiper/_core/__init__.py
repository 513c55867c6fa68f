"""Cython kernels: typed memoryviews, nogil loops; they know nothing of SQL."""
