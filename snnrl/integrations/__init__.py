"""Bridges to other libraries, each behind its optional extra.

* :mod:`snnrl.integrations.sb3`: stable-baselines3 (``pip install 'snnrl[sb3]'``): ANN -> SNN
  conversion of trained DQN / QR-DQN / PPO / A2C policies and spiking feature extractors that
  SB3 trains with surrogate gradients.

Nothing here is imported by ``import snnrl``; each subpackage imports its library itself and
says which extra to install when it is missing.
"""
