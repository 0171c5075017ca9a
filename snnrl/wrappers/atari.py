"""Atari preprocessing pieces that Gymnasium lacks, for spiking agents.

The standard chain comes from Gymnasium: ``gymnasium.wrappers.AtariPreprocessing`` (no-op
reset, frame skip with max-pooling of the last two frames, grayscale, resize, optional
terminal-on-life-loss), ``ResizeObservation`` and ``FrameStackObservation``. This module adds:

* :class:`AtariPreprocessing`: Gymnasium's wrapper of that name with a faster ``step`` when it
  sits right on ``gymnasium.make``'s ALE environment (same observations, rewards, flags and infos).
* :class:`FireOnReset`: press FIRE after a reset (and optionally after a lost life), for games
  that wait for it (Breakout).
* :class:`CropObservation`: keep the play area, per game from :data:`PLAY_AREAS` or given rows
  and columns.
* :class:`BinarizeObservation`: ``1`` where a pixel exceeds a threshold, else ``0``.
* :class:`FrameDifferenceObservation`: the change since the previous frame (motion).
* :class:`OverlayObservation`: collapse a stack of recent frames (or differences) into one
  frame with per-frame weights, e.g. a fading trail of the ball.
* :class:`SubtractBackground`: what differs from a slow running average of the frames
  (static bricks, walls and scores fade; moving objects stay), i.e. input neurons that
  habituate to what never changes.
* :class:`PoolObservation`: max- or mean-pool an image into a coarse grid, so that a small
  object (a ball of one pixel) lights one cell wherever it is in that cell.

All of them keep ``terminated`` and ``truncated`` apart, record their constructor arguments
(so ``env.spec`` rebuilds the stack) and return new arrays on every call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from snnrl import _checks as checks
from snnrl.wrappers._fast import compiled_kernels
from snnrl.wrappers.sticky import StickyActions

__all__ = [
    "DIFFERENCE_MODES",
    "PLAY_AREAS",
    "AtariPreprocessing",
    "BinarizeObservation",
    "CropObservation",
    "FireOnReset",
    "FrameDifferenceObservation",
    "OverlayObservation",
    "PoolObservation",
    "ProjectObservation",
    "SpreadObservation",
    "SubtractBackground",
]

NATIVE_SHAPE = (210, 160)
"""Height and width of an ALE frame."""

PLAY_AREAS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    # rows 32:196: below the score (rows 5-14) and the top wall (rows 17-31), down to just
    # below the paddle (rows 189-193); cols 8:152: inside the side walls (cols 0-7, 152-159).
    "breakout": ((32, 196), (8, 152)),
    # rows 34:194: between the top border (rows 24-33, the score is above it) and the
    # bottom border (rows 194-209); all columns (the paddles sit at cols 16-19 and 140-143).
    "pong": ((34, 194), (0, 160)),
    # rows 20:195: below the score (rows 10-19), down to the ground (rows 195-209, which also
    # shows the lives); all columns.
    "space_invaders": ((20, 195), (0, 160)),
}
"""Play areas ``(rows, cols)`` of the native 210 x 160 ALE frame, as half-open ``(start, stop)``
pixel ranges. Measured on grayscale frames of the v5 games."""

DIFFERENCE_MODES = ("positive", "negative", "absolute")

_POOL_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.float32, np.float64))
"""Frame dtypes whose max-pooling runs the compiled kernel."""
_OVERLAY_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32))
"""Stack dtypes whose max-overlay runs a compiled kernel (float stacks with NaN or -0.0 go to NumPy)."""


def _box(env: gym.Env, what: str) -> gym.spaces.Box:
    space = env.observation_space
    if not isinstance(space, gym.spaces.Box):
        raise TypeError(f"{what} needs a Box observation space, got {space}")
    return space


def _span(value: Any, name: str, size: int) -> tuple[int, int]:
    """A half-open ``(start, stop)`` range inside ``[0, size]``."""
    if value is None:
        return 0, size
    if (
        not isinstance(value, Sequence)
        or len(value) != 2
        or not all(checks.is_int(v) for v in value)
    ):
        raise TypeError(f"{name} must be a pair of ints (start, stop), got {value!r}")
    start, stop = int(value[0]), int(value[1])
    if not 0 <= start < stop <= size:
        raise ValueError(f"{name} must satisfy 0 <= start < stop <= {size}, got {value!r}")
    return start, stop



_PASS_THROUGH = (gym.wrappers.OrderEnforcing, gym.wrappers.PassiveEnvChecker)
"""Wrappers of ``gymnasium.make`` that only check calls; the fast step may go around them."""


class AtariPreprocessing(gym.wrappers.AtariPreprocessing):
    """``gymnasium.wrappers.AtariPreprocessing`` whose frame-skip loop calls the emulator directly.

    The Gymnasium wrapper steps the wrapped environment once per skipped frame, through
    ``gymnasium.make``'s checking wrappers and ``AtariEnv.step``, which also copies the screen
    at every frame. When the wrapped environment is an ``AtariEnv`` with discrete actions and
    ``frameskip=1`` under nothing but ``OrderEnforcing`` / ``PassiveEnvChecker`` (what
    ``gymnasium.make("ALE/...", frameskip=1)`` builds) and at most one
    :class:`~snnrl.wrappers.sticky.StickyActions` (whose rule it then plays frame by frame),
    :meth:`step` instead calls ``ale.act`` ``frame_skip`` times and reads the screen only for
    the two frames it max-pools (about 60 us less per step, 15 % of an emulator step); with
    the ``fast`` extra a grayscale frame is read as palette indices and looked up in a table
    learned from ALE's own frames (:meth:`_grab_gray`, the same bytes, 6 us against 14 us). It does
    what the chain of calls does, in the same order: the sum of the frames' rewards,
    ``terminated`` and ``truncated`` of the last frame played, the same early stop,
    max-pooling, resizing and info; tests compare both wrappers step by step. Anything else (a
    ``TimeLimit``, a stochastic frameskip, continuous actions, a ``step`` before ``reset``)
    takes Gymnasium's path.

    Args and Shape: as ``gymnasium.wrappers.AtariPreprocessing``.
    """

    def __init__(self, env: gym.Env, **options: Any) -> None:
        super().__init__(env, **options)
        inner = env
        sticky: StickyActions | None = None
        while isinstance(inner, gym.Wrapper) and (type(inner) in _PASS_THROUGH or
                                                  (sticky is None and type(inner) is StickyActions)):
            if type(inner) is StickyActions:
                sticky = inner
            inner = inner.env
        frameskip = getattr(inner, "_frameskip", None)
        direct = type(inner).__name__ == "AtariEnv" and isinstance(frameskip, int) and frameskip == 1 \
            and not getattr(inner, "continuous", True)
        self._atari: Any = inner if direct else None
        self._sticky = sticky
        self._started = False
        # the grayscale lookup of the fast step (see _grab_gray); None: ALE's getScreenGrayscale
        kernels = compiled_kernels() if direct and self.grayscale_obs else None
        height, width = self.obs_buffer[0].shape[:2]
        self._palette_gray: Any = kernels.palette_gray if kernels is not None and height * width % 8 == 0 else None
        self._gray_table = np.full(256, -1, np.int16)  # learned: palette index -> gray level (-1: not seen)
        self._screen = np.empty((height, width), np.uint8)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = super().reset(seed=seed, options=options)
        self._started = True
        return obs, info

    def _get_obs(self) -> np.ndarray:
        """Gymnasium's observation; at the native screen size, a copy of the pooled frame (what
        OpenCV's resize to the same size returns) without calling OpenCV."""
        buffer = self.obs_buffer[0]
        if self.scale_obs or tuple(self.screen_size) != (buffer.shape[1], buffer.shape[0]):
            return super()._get_obs()
        if self.frame_skip > 1:
            np.maximum(buffer, self.obs_buffer[1], out=buffer)
        obs = buffer.copy()
        return np.expand_dims(obs, axis=-1) if self.grayscale_obs and self.grayscale_newaxis else obs

    def _grab_gray(self, ale: Any, buffer: np.ndarray) -> None:
        """What ``ale.getScreenGrayscale(buffer)`` writes, from the palette-index frame.

        ALE converts a frame to grayscale by looking each pixel's palette index up in a fixed
        table (``ColourPalette::applyPaletteGrayscale``); its ``getScreen`` copies the indices
        (1 us). The table is learned here from ALE's own frames: a frame with an index not seen
        before is read with ``getScreenGrayscale`` and its pairs are added. A compiled lookup
        (the ``fast`` extra) then takes 5 us against ALE's 14 us on Breakout's frames (every
        emulator step reads two). Should one index ever show two gray levels, the lookup is
        dropped and ALE's conversion used from then on.
        """
        screen = self._screen
        ale.getScreen(screen)
        if self._palette_gray(screen, self._gray_table, buffer):
            return
        ale.getScreenGrayscale(buffer)
        table, index, gray = self._gray_table, screen.ravel(), buffer.ravel().astype(np.int16)
        seen = table[index]
        known = seen >= 0
        if not np.array_equal(seen[known], gray[known]):
            self._palette_gray = None
            return
        table[index] = gray
        if not np.array_equal(table[index], gray):  # one index, two gray levels in this frame
            self._palette_gray = None

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """One agent step: ``frame_skip`` emulator frames (see the class docstring)."""
        atari = self._atari
        if atari is None or not self._started:
            return super().step(action)
        ale, action_set, sticky = atari.ale, atari._action_set, self._sticky
        act, game_over, game_truncated = ale.act, ale.game_over, ale.game_truncated  # bound once per step
        frame_action = None if sticky is None else sticky.frame_action
        life_loss = self.terminal_on_life_loss
        action_id = action_set[action]
        last = self.frame_skip - 1
        total_reward, terminated, truncated = 0.0, False, False
        for t in range(self.frame_skip):
            if frame_action is not None:  # StickyActions.step's rule, one draw per frame
                action_id = action_set[frame_action(action)]
            total_reward += 0.0 + act(action_id, 1.0)  # AtariEnv.step's reward of one frame
            terminated = game_over(with_truncation=False)
            truncated = game_truncated()
            if life_loss:
                new_lives = ale.lives()
                terminated = terminated or new_lives < self.lives
                self.lives = new_lives
            if terminated or truncated:
                break
            if t >= last - 1:  # the last two frames, max-pooled by _get_obs
                buffer = self.obs_buffer[1 if t < last else 0]
                if self._palette_gray is not None:
                    self._grab_gray(ale, buffer)
                elif self.grayscale_obs:
                    ale.getScreenGrayscale(buffer)
                else:
                    ale.getScreenRGB(buffer)
        self.game_over = terminated  # the last frame's, as the per-frame assignment leaves it
        info = atari._get_info()
        return self._get_obs(), total_reward, terminated, truncated, info if sticky is None else sticky.fix_info(info)


class FireOnReset(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Press FIRE after every reset (and, optionally, after every lost life).

    Some games (Breakout) wait for FIRE before play starts; an agent that never presses it
    sees a frozen screen. The FIRE step's reward is dropped on reset (it is 0 in the games
    that need it) and added to the step's reward after a lost life. If that step ends the
    episode on reset, the environment is reset again without the step.

    With sticky actions (v5: each frame repeats the previous action with probability 0.25) a
    FIRE step of 4 frames is swallowed whole with probability ``0.25^4``, about 1 in 250 (1 of
    200 measured Breakout resets): the game then waits for FIRE until the episode is truncated.
    An agent that has FIRE among its actions presses it itself; for one that has not, ``presses
    = 2`` makes that ``0.25^8``.

    Args:
        env: an ALE environment (possibly wrapped) whose action 1 is ``"FIRE"``.
        on_life_loss: also press FIRE on the step that loses a life (``info["lives"]`` drops),
            unless the episode ended on it.
        presses: FIRE steps each time (>= 1).

    Raises:
        ValueError: the game's action 1 is not FIRE.
    """

    FIRE = 1

    def __init__(self, env: gym.Env, on_life_loss: bool = False, presses: int = 1) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, on_life_loss=on_life_loss, presses=presses)
        gym.Wrapper.__init__(self, env)
        meanings = getattr(env.unwrapped, "get_action_meanings", None)
        if meanings is None or len(meanings()) < 2 or meanings()[self.FIRE] != "FIRE":
            found = meanings() if meanings is not None else "no get_action_meanings()"
            raise ValueError(f"FireOnReset needs a game whose action 1 is FIRE; actions: {found}")
        self.on_life_loss = checks.boolean("on_life_loss", on_life_loss)
        self.presses = checks.integer("presses", presses, 1)
        self._lives = 0
        self._game: Any = env.unwrapped  # its ``ale`` gives the lives (cached: ``unwrapped`` walks the chain)

    def _fire(self) -> tuple[Any, float, bool, bool, dict]:
        """``presses`` FIRE steps (fewer if the episode ends); the last step's outputs, rewards summed."""
        total = 0.0
        for _ in range(self.presses):
            obs, reward, terminated, truncated, info = self.env.step(self.FIRE)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """Reset, then press FIRE (``presses`` steps)."""
        obs, info = self.env.reset(seed=seed, options=options)
        fired, _, terminated, truncated, step_info = self._fire()
        if terminated or truncated:
            obs, info = self.env.reset(options=options)
        else:
            obs, info = fired, {**info, **step_info}
        self._lives = self._game.ale.lives()
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        """Step; with ``on_life_loss``, press FIRE after a lost life."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self._game.ale.lives()
        if self.on_life_loss and lives < self._lives and not (terminated or truncated):
            obs, extra, terminated, truncated, info = self._fire()
            reward = float(reward) + float(extra)
            lives = self._game.ale.lives()
        self._lives = lives
        return obs, reward, terminated, truncated, info


class CropObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Keep rows ``rows[0]:rows[1]`` and columns ``cols[0]:cols[1]`` of an image observation.

    Args:
        env: an environment with ``(H, W)`` or ``(H, W, C)`` Box observations.
        rows: ``(start, stop)`` rows to keep (default: all).
        cols: ``(start, stop)`` columns to keep (default: all).
        game: instead of ``rows``/``cols``, a key of :data:`PLAY_AREAS` (``"breakout"``,
            ``"pong"``, ``"space_invaders"``); the frame must then be the native 210 x 160 one
            (crop before resizing: ``AtariPreprocessing(screen_size=(160, 210))``).

    Shape:
        observation: ``(rows[1] - rows[0], cols[1] - cols[0], *channels)``.
    """

    def __init__(
        self,
        env: gym.Env,
        rows: tuple[int, int] | None = None,
        cols: tuple[int, int] | None = None,
        *,
        game: str | None = None,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, rows=rows, cols=cols, game=game)
        gym.ObservationWrapper.__init__(self, env)
        space = _box(env, "CropObservation")
        if len(space.shape) not in (2, 3):
            raise ValueError(f"CropObservation needs (H, W) or (H, W, C) observations, got {space.shape}")
        height, width = space.shape[:2]
        if game is not None:
            if rows is not None or cols is not None:
                raise ValueError("give either game or rows/cols, not both")
            if game not in PLAY_AREAS:
                raise ValueError(f"unknown game {game!r} for CropObservation; known games: {sorted(PLAY_AREAS)}")
            if (height, width) != NATIVE_SHAPE:
                raise ValueError(
                    f"the play area of {game!r} is given on the native {NATIVE_SHAPE} frame, but the "
                    f"observations are {(height, width)}: crop before resizing "
                    "(AtariPreprocessing(screen_size=(160, 210)), then crop, then resize)"
                )
            rows, cols = PLAY_AREAS[game]
        self.rows = _span(rows, "rows", height)
        self.cols = _span(cols, "cols", width)
        self._index = (slice(*self.rows), slice(*self.cols))
        self.observation_space = gym.spaces.Box(space.low[self._index], space.high[self._index], dtype=space.dtype)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return observation[self._index].copy()


class BinarizeObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """``1`` where the observation exceeds ``threshold``, else ``0`` (uint8).

    Args:
        env: an environment with Box observations.
        threshold: in the observation's own units (e.g. grayscale 0..255); a pixel is on iff
            ``x > threshold``. ``0`` keeps every non-black pixel; Pong's background is
            grayscale 87, so its preset uses 110.

    Shape:
        observation: unchanged; space ``Box(0, 1, shape, uint8)``.
    """

    def __init__(self, env: gym.Env, threshold: float = 0.0) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, threshold=threshold)
        gym.ObservationWrapper.__init__(self, env)
        space = _box(env, "BinarizeObservation")
        if not (checks.is_real(threshold) and math.isfinite(threshold)):  # a TypeError for NaN too, as before
            raise checks.invalid("threshold", "a finite number", threshold, checks.InvalidType)
        self.threshold = threshold
        self.observation_space = gym.spaces.Box(0, 1, space.shape, dtype=np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return (np.asarray(observation) > self.threshold).view(np.uint8)


class FrameDifferenceObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """The change of the observation since the previous step.

    With ``x_t`` the wrapped observation at step ``t``, the output ``d_t`` is

    * ``"positive"`` (default): ``max(x_t - x_{t-1}, 0)``: what appeared or brightened (the
      new position of a moving object; BindsNET's "new pixels");
    * ``"negative"``: ``max(x_{t-1} - x_t, 0)``: what disappeared or darkened;
    * ``"absolute"``: ``|x_t - x_{t-1}|``: both.

    After a reset there is no previous frame: ``d_0`` is all zeros (no motion yet). Computed
    as ``max(a, b) - b`` etc., so unsigned frames never wrap around.

    Args:
        env: an environment with Box observations with finite bounds.
        mode: ``"positive"``, ``"negative"`` or ``"absolute"``.

    Shape:
        observation: unchanged; space ``Box(0, high - low, shape, dtype)``.
    """

    def __init__(self, env: gym.Env, mode: str = "positive") -> None:
        gym.utils.RecordConstructorArgs.__init__(self, mode=mode)
        gym.Wrapper.__init__(self, env)
        space = _box(env, "FrameDifferenceObservation")
        if mode not in DIFFERENCE_MODES:
            raise ValueError(f"mode must be one of {DIFFERENCE_MODES}, got {mode!r}")
        if not space.is_bounded("both"):
            raise ValueError(f"FrameDifferenceObservation needs finite bounds, got {space}")
        self.mode = mode
        span = (space.high.astype(np.float64) - space.low).astype(space.dtype)
        self.observation_space = gym.spaces.Box(np.zeros_like(span), span, dtype=space.dtype)
        self._previous: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """Reset; the first difference is all zeros."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._previous = np.array(obs, copy=True)
        return np.zeros_like(self._previous), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        """Step and return the difference to the previous observation."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        current = np.array(obs, copy=True)
        previous = self._previous if self._previous is not None else current
        self._previous = current
        return self.difference(current, previous), reward, terminated, truncated, info

    def difference(self, current: np.ndarray, previous: np.ndarray) -> np.ndarray:
        """``d`` for two frames, following ``mode`` (a new array)."""
        top = np.maximum(current, previous)
        if self.mode == "positive":
            return top - previous
        if self.mode == "negative":
            return top - current
        return top - np.minimum(current, previous)


class OverlayObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Collapse a stack of ``k`` frames into one: ``reduce_i weights[i] * stack[i]``.

    Put it after ``FrameStackObservation(env, k)`` (which orders the stack oldest first, so
    ``weights`` is oldest first too). With increasing weights and ``reduce="max"`` on binary
    frames, a static object shows at full intensity and a moving one leaves a trail that fades
    into the past, which gives its direction; on frame differences it is BindsNET's weighted
    overlay of recent motion (with ``reduce="sum"``).

    Args:
        env: an environment with Box observations ``(k, *shape)`` and bounds ``low >= 0``.
        weights: ``k`` non-negative numbers, at least one positive (oldest first).
        reduce: ``"max"`` or ``"sum"``.

    Shape:
        observation: ``(*shape)``; space ``Box(0, bound, shape, float32)`` with
        ``bound = max_i`` (or ``sum_i``) ``weights[i] * high[i]``.
    """

    REDUCTIONS = ("max", "sum")

    def __init__(self, env: gym.Env, weights: Sequence[float], reduce: str = "max") -> None:
        gym.utils.RecordConstructorArgs.__init__(self, weights=weights, reduce=reduce)
        gym.ObservationWrapper.__init__(self, env)
        space = _box(env, "OverlayObservation")
        if reduce not in self.REDUCTIONS:
            raise ValueError(f"reduce must be one of {self.REDUCTIONS}, got {reduce!r}")
        if not space.shape:
            raise ValueError("OverlayObservation needs a stack (k, *shape) of observations, got a scalar space")
        try:
            w = np.asarray(weights, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"weights must be a sequence of numbers, got {weights!r}") from err
        k = space.shape[0]
        if w.shape != (k,):
            raise ValueError(f"weights must have one entry per stacked frame ({k}), got {weights!r}")
        if not (np.isfinite(w).all() and (w >= 0).all() and (w > 0).any()):
            raise ValueError(f"weights must be finite, >= 0 and not all 0, got {weights!r}")
        if not space.is_bounded("both") or (space.low < 0).any():
            raise ValueError(f"OverlayObservation needs finite bounds with low >= 0, got {space}")
        self.weights = w
        self.reduce = reduce
        self._w = w.astype(np.float32).reshape((k,) + (1,) * (len(space.shape) - 1))
        scaled = space.high.astype(np.float64) * w.reshape(self._w.shape)
        bound = scaled.max(axis=0) if reduce == "max" else scaled.sum(axis=0)
        self.observation_space = gym.spaces.Box(
            np.zeros(space.shape[1:], np.float32), bound.astype(np.float32), dtype=np.float32
        )
        self._high_flat = np.ascontiguousarray(self.observation_space.high, np.float32).reshape(-1)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        kernels = compiled_kernels() if self.reduce == "max" else None
        if kernels is not None and isinstance(observation, np.ndarray) and observation.dtype in _OVERLAY_DTYPES \
                and observation.shape == self.env.observation_space.shape:
            # the same float32 products, maximum and bound in one compiled pass (tested equal)
            out = np.empty(self._high_flat.size, np.float32)
            k = observation.shape[0]
            args = (observation.reshape(k, -1), self._w.reshape(k), self._high_flat, out)
            if observation.dtype == np.uint8:
                kernels.overlay_max(*args)
                return out.reshape(observation.shape[1:])
            if not kernels.overlay_max_checked(*args):  # NaN or -0.0: NumPy's order decides, so NumPy
                return out.reshape(observation.shape[1:])
        weighted = np.multiply(observation, self._w, dtype=np.float32)
        out = weighted.max(axis=0) if self.reduce == "max" else weighted.sum(axis=0)
        return np.minimum(out, self.observation_space.high, out=out)  # float32 rounding stays inside


class SubtractBackground(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """What differs from the background: ``max(x_t - b_t, 0)``, with ``b`` a running average.

    The background is an exponential moving average of the frames with a time constant of
    ``tau`` steps, ``b_{t+1} = b_t + (x_t - b_t) / tau``, started at the first frame this
    wrapper sees and carried across resets (it describes the screen, not the episode). What
    never changes (Breakout's bricks, walls, the score area) fades to zero; what moves (the
    ball) stays at full intensity; what moves over a region (the paddle) keeps
    ``1 - occupancy`` of its intensity. This is the habituation of input neurons to a constant
    stimulus, and removes a constant drive that would otherwise dominate every decision and
    every eligibility trace. The output at step ``t`` uses the background before ``x_t``.

    Args:
        env: an environment with Box observations with finite bounds and ``low >= 0``.
        tau: time constant of the background, in steps, ``>= 1`` (1: frame difference
            against the previous frame).

    Shape:
        observation: unchanged; space ``Box(0, high, shape, float32)``.
    """

    def __init__(self, env: gym.Env, tau: float = 1000.0) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, tau=tau)
        gym.Wrapper.__init__(self, env)
        space = _box(env, "SubtractBackground")
        if not (checks.is_real(tau) and math.isfinite(tau) and tau >= 1):
            raise checks.invalid("tau", "a finite number of steps >= 1", tau)
        if not space.is_bounded("both") or (space.low < 0).any():
            raise ValueError(f"SubtractBackground needs finite bounds with low >= 0, got {space}")
        self.tau = float(tau)
        self.observation_space = gym.spaces.Box(
            np.zeros(space.shape, np.float32), space.high.astype(np.float32), dtype=np.float32
        )
        self.background: np.ndarray | None = None
        """The running average ``(*shape)`` float32, ``None`` before the first frame."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """Reset the environment (not the background)."""
        obs, info = self.env.reset(seed=seed, options=options)
        return self._foreground(obs), info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict]:
        """Step, return the foreground and update the background."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._foreground(obs), reward, terminated, truncated, info

    def _foreground(self, obs: Any) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float32)
        if self.background is None:
            self.background = x.copy()
        kernels = compiled_kernels()
        if kernels is not None and x.shape == self.background.shape and self.background.flags.c_contiguous:
            out = np.empty(x.shape, np.float32)  # the same float32 operations in one compiled pass (tested equal)
            kernels.foreground(x.reshape(-1), self.background.reshape(-1), np.float32(1.0 / self.tau), out.reshape(-1))
            return out
        out = np.subtract(x, self.background)
        np.maximum(out, 0.0, out=out)
        self.background += (x - self.background) * np.float32(1.0 / self.tau)
        return out


class PoolObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Pool an image into a coarse grid: cell ``(i, j)`` is the max (or mean) of a block.

    Args:
        env: an environment with Box observations ``(..., H, W)``.
        size: ``(rows, cols)`` of a block (or one int for both); ``H`` and ``W`` must be
            multiples of it.
        reduce: ``"max"`` (a one-pixel ball lights its whole cell) or ``"mean"``.

    Shape:
        observation: ``(..., H / rows, W / cols)``; the same dtype for ``"max"``, float32
        for ``"mean"``.
    """

    REDUCTIONS = ("max", "mean")

    def __init__(self, env: gym.Env, size: int | Sequence[int] = 2, reduce: str = "max") -> None:
        gym.utils.RecordConstructorArgs.__init__(self, size=size, reduce=reduce)
        gym.ObservationWrapper.__init__(self, env)
        space = _box(env, "PoolObservation")
        if reduce not in self.REDUCTIONS:
            raise ValueError(f"reduce must be one of {self.REDUCTIONS}, got {reduce!r}")
        if len(space.shape) < 2:
            raise ValueError(f"PoolObservation needs (..., H, W) observations, got shape {space.shape}")
        block = (size, size) if checks.is_int(size) else tuple(size) if isinstance(size, Sequence) else None
        if block is None or len(block) != 2 or not all(checks.is_int(b) and b >= 1 for b in block):
            raise checks.invalid("size", "a positive int or two positive ints (rows, cols)", size)
        height, width = space.shape[-2:]
        if height % block[0] or width % block[1]:
            raise ValueError(
                f"PoolObservation: the image ({height} x {width}) is not a multiple of size {block}; "
                "resize it first"
            )
        self.size: tuple[int, int] = (int(block[0]), int(block[1]))
        self.reduce = reduce
        self._grid = (*space.shape[:-2], height // block[0], block[0], width // block[1], block[1])
        dtype = space.dtype if reduce == "max" else np.dtype(np.float32)
        self.observation_space = gym.spaces.Box(self._pool(space.low), self._pool(space.high), dtype=dtype)

    def _pool(self, x: np.ndarray) -> np.ndarray:
        blocks = np.asarray(x).reshape(self._grid)
        axes = (-3, -1)
        if self.reduce == "max":
            return blocks.max(axis=axes)
        return blocks.mean(axis=axes, dtype=np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        kernels = compiled_kernels() if self.reduce == "max" else None
        x = np.asarray(observation)
        if kernels is not None and x.dtype in _POOL_DTYPES and x.shape == self.env.observation_space.shape:
            # NumPy's strided reduction takes 60 us on 80 x 80 float32; the kernel a few (tested equal)
            height, width = x.shape[-2:]
            frames = x.reshape(-1, height, width)
            out = np.empty((frames.shape[0], height // self.size[0], width // self.size[1]), x.dtype)
            if not kernels.pool_max(frames, self.size[0], self.size[1], out):
                return out.reshape(self.observation_space.shape)
        return self._pool(x)


class SpreadObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    r"""Spread every lit cell of a grid over its neighbours with a Gaussian profile: a coarse
    code of position, as the overlapping receptive fields of place cells (or tile coding).

    .. math:: y_{ij} = \max_{|k|, |l| \le R} x_{i + k, j + l}\, e^{-(k^2 + l^2) / 2\sigma^2},
              \qquad R = \lceil 2 \sigma \rceil

    A lit cell keeps its value (the profile is 1 at its centre) and lights its neighbours at
    ``e^{-1/2\sigma^2}`` (one cell away), so a readout that learns about an object in one cell
    also learns about it one cell away: an object that visits a cell rarely (a ball) is learned
    about from its visits to the cells around. The max keeps values in ``[0, 1]`` where several
    objects overlap, and keeps the brightest object where they meet (a sum would merge them).

    Args:
        env: an environment with Box observations ``(..., H, W)`` in ``[0, 1]``.
        sigma: the profile's width in cells, > 0.

    Shape:
        observation: ``(..., H, W)`` float32.
    """

    def __init__(self, env: gym.Env, sigma: float = 1.0) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, sigma=sigma)
        gym.ObservationWrapper.__init__(self, env)
        space = _box(env, "SpreadObservation")
        if len(space.shape) < 2:
            raise ValueError(f"SpreadObservation needs (..., H, W) observations, got shape {space.shape}")
        self.sigma = checks.positive("sigma", sigma, what="a positive number of cells")
        radius = math.ceil(2.0 * self.sigma)
        # (dy, dx, weight) of every offset but the centre (the max does not depend on their order)
        self._offsets = [(dy, dx, math.exp(-(dy * dy + dx * dx) / (2.0 * self.sigma**2)))
                         for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1) if dy or dx]
        self.observation_space = gym.spaces.Box(0.0, 1.0, space.shape, dtype=np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        x = np.asarray(observation, dtype=np.float32)
        out = x.copy()
        height, width = x.shape[-2:]
        for dy, dx, weight in self._offsets:
            # out[..., i, j] = max(out[..., i, j], weight * x[..., i - dy, j - dx])
            src = x[..., max(0, -dy):height - max(0, dy), max(0, -dx):width - max(0, dx)]
            dst = out[..., max(0, dy):height - max(0, -dy), max(0, dx):width - max(0, -dx)]
            np.maximum(dst, weight * src, out=dst)
        return out


class ProjectObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    r"""Append a grid's projection onto one of its axes: where along that axis anything is lit.

    ``onto="width"`` appends one row, the max over the rows of each column (the horizontal
    positions of what is on the grid); ``onto="height"`` appends one column, the max over the
    columns of each row (the vertical positions):

    .. math:: y_{H, j} = \max_i x_{ij} \quad (\text{onto width}), \qquad
              y_{i, W} = \max_j x_{ij} \quad (\text{onto height})

    A readout learns one weight per cell of the grid, so what it learns about an object in one
    row does not carry over to the same column in another row; a ball that crosses the screen
    visits each cell rarely. The appended line gives every column (or row) one cell that is
    lit wherever along the other axis the object is, so a weight learned there serves every row
    (a population code of the object's position along the axis; the grid keeps the rest). The
    appended line is a row (a column), so a mirror along either axis still maps the grid with
    its projection onto itself.

    Args:
        env: an environment with Box observations ``(..., H, W)`` and finite bounds.
        onto: ``"width"`` or ``"height"``.

    Shape:
        observation: ``(..., H + 1, W)`` (onto width) or ``(..., H, W + 1)`` (onto height); the
        same dtype.
    """

    AXES = ("width", "height")

    def __init__(self, env: gym.Env, onto: str = "width") -> None:
        gym.utils.RecordConstructorArgs.__init__(self, onto=onto)
        gym.ObservationWrapper.__init__(self, env)
        space = _box(env, "ProjectObservation")
        if onto not in self.AXES:
            raise checks.invalid("onto", f"one of {self.AXES}", onto)
        if len(space.shape) < 2:
            raise ValueError(f"ProjectObservation needs (..., H, W) observations, got shape {space.shape}")
        self.onto = onto
        self.observation_space = gym.spaces.Box(self._project(space.low), self._project(space.high),
                                                dtype=space.dtype)

    def _project(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if self.onto == "width":
            return np.concatenate([x, x.max(axis=-2, keepdims=True)], axis=-2)
        return np.concatenate([x, x.max(axis=-1, keepdims=True)], axis=-1)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return self._project(observation)
