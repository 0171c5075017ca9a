"""Shared test settings: one torch thread (two threads thrash on the 2-core CI machines)."""

import torch

torch.set_num_threads(1)
