"""nnip.scaling._blas: single-threaded OpenBLAS around the fits."""

from nnip.scaling import _blas


def test_single_threaded_blas_restores_thread_counts():
    before = [get() for get, _ in _blas.openblas_thread_controls()]
    with _blas.single_threaded_blas():
        assert all(get() == 1 for get, _ in _blas.openblas_thread_controls())
    assert [get() for get, _ in _blas.openblas_thread_controls()] == before
