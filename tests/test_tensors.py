"""snnrl._tensors: as_dtype gives the values of Tensor.to (faster for large bool tensors); all_finite
answers what torch.isfinite(x).all() answers."""

import pytest
import torch

from snnrl._tensors import _VIA_BYTES, all_finite, as_dtype


@pytest.mark.parametrize("shape", [(3,), (1, _VIA_BYTES), (8, 1, 80, 80)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.uint8])
def test_as_dtype_gives_the_values_of_to(shape, dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=g) < 0.3
    for view in (x, x.transpose(0, -1) if x.dim() > 1 else x):  # contiguous and strided
        got = as_dtype(view, dtype)
        assert got.dtype == dtype and got.shape == view.shape
        assert torch.equal(got, view.to(dtype))


def test_as_dtype_leaves_other_dtypes_to_to():
    x = torch.arange(2000, dtype=torch.int32)
    assert torch.equal(as_dtype(x, torch.float32), x.to(torch.float32))


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("shape", [(), (1,), (4, 6400), (2, 3, 5)])
def test_all_finite_answers_what_isfinite_answers(dtype, shape):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=g).to(dtype)
    assert all_finite(x) is True
    flat = x.reshape(-1)
    for bad in (float("nan"), float("inf"), float("-inf")):
        for where in {0, flat.numel() - 1}:
            y = x.clone()
            y.reshape(-1)[where] = bad
            assert all_finite(y) is False
            assert all_finite(y) == bool(torch.isfinite(y).all())
    if x.dim() > 1:  # a strided view
        assert all_finite(x.transpose(0, 1)) is True


def test_all_finite_takes_tensors_that_need_grad_and_integers():
    x = torch.ones(3, requires_grad=True)
    assert all_finite(x) is True
    assert all_finite(torch.tensor([float("nan")], requires_grad=True)) is False
    assert all_finite(torch.arange(5)) is True
    assert all_finite(torch.zeros(0)) is True
