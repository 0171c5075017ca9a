"""stable-baselines3 integration (``pip install 'snnrl[sb3]'``).

**ANN -> SNN conversion** of trained DQN, QR-DQN (with sb3-contrib), PPO, A2C, SAC, TD3 and
DDPG policies (gSDE and squashed outputs included; models trained with ``VecNormalize`` carry their
statistics)::

    from snnrl.integrations.sb3 import load_sb3_model, convert_sb3, make_vec_env
    model = load_sb3_model("dqn-CartPole-v1.zip")          # any SB3 version, RL Zoo models too
                                                            # (+ <Env>/vecnormalize.pkl: a NormalizedModel)
    agent = convert_sb3(model, env=make_vec_env("cartpole"), steps=64)
    evaluate_policy(agent, env)                              # agent.predict is SB3's protocol
    agent.save("dqn-cartpole.safetensors")                   # snnrl checkpoint + metadata
    agent = ConvertedPolicy.load("dqn-cartpole.safetensors")  # needs no SB3

**Spiking policies trained by SB3** (surrogate gradients)::

    from snnrl.integrations.sb3 import spiking_policy_kwargs
    PPO("MlpPolicy", env, policy_kwargs=spiking_policy_kwargs(steps=8))

The conversion core (:mod:`.convert`) and :class:`ConvertedPolicy` need only torch; everything
that touches SB3 imports it when called and names the extra to install when it is missing.
"""

from typing import Any

from snnrl.integrations.sb3.convert import (
    ActivationCode,
    ConversionError,
    Segment,
    activation_code,
    ann_forward,
    convert_modules,
    linearize,
    simulate,
)
from snnrl.integrations.sb3.extract import PolicyNetwork, convert_sb3, policy_network, preprocess_spec
from snnrl.integrations.sb3.loading import (
    SB3LoadError,
    detect_algo,
    find_vecnormalize,
    load_sb3_model,
    read_model_header,
    read_vecnormalize,
    require_sb3,
)
from snnrl.integrations.sb3.normalization import NormalizedModel, ObsNormalization
from snnrl.integrations.sb3.policy import ConvertedPolicy, Preprocessor

_LAZY = {
    # these import stable-baselines3 (or gymnasium) when first used
    "AgreementRecorder": "evaluation",
    "OcclusionWrapper": "evaluation",
    "RandomPolicy": "evaluation",
    "collect_observations": "evaluation",
    "compare_returns": "evaluation",
    "evaluate": "evaluation",
    "make_vec_env": "evaluation",
    "occlusion_experiment": "evaluation",
    "SpikingCnnExtractor": "features",
    "SpikingMlpExtractor": "features",
    "SpikingNet": "features",
    "spiking_policy_kwargs": "features",
    "train_spiking_agent": "training",
}

__all__ = [
    "ActivationCode",
    "ConversionError",
    "ConvertedPolicy",
    "NormalizedModel",
    "ObsNormalization",
    "PolicyNetwork",
    "Preprocessor",
    "SB3LoadError",
    "Segment",
    "activation_code",
    "ann_forward",
    "convert_modules",
    "convert_sb3",
    "detect_algo",
    "find_vecnormalize",
    "linearize",
    "load_sb3_model",
    "policy_network",
    "preprocess_spec",
    "read_model_header",
    "read_vecnormalize",
    "require_sb3",
    "simulate",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
