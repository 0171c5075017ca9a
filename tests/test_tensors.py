"""snnrl._tensors.as_dtype: the values of Tensor.to, faster for large bool tensors."""

import pytest
import torch

from snnrl._tensors import _VIA_BYTES, as_dtype


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
