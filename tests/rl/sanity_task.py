"""A tiny MuJoCo task to check that PPO through our adapter learns: point masses reaching targets.

Each of ``N`` worlds is a 0.1 kg point mass on two slide joints (x, y) in a plane, pushed by
two force motors (ctrl in [-1, 1], 1 N each) against joint damping. A target is drawn in a
0.8 m square at every reset; the reward is ``exp(-|p - target|^2 / 0.02)`` minus a small
effort cost, so a policy that drives the mass onto the target and holds it there gets
close to 1 per step, and a random policy (which mostly jitters around its start) gets
little. Leaving the 1.2 m arena terminates the episode (a true terminal state, so the
adapter's terminated/truncated distinction is exercised); otherwise it is truncated after
``episode_steps`` policy steps.

Why one MuJoCo model holds all worlds: the N masses have collisions turned off and do not
interact, so one ``mj_step`` advances every world at once, with no Python loop over worlds
(the machine this runs on has two cores; a pool of ``MjData`` would be slower). Physics at
120 Hz, policy at 30 Hz (4 substeps), as in the project.

The class implements the numpy protocol of :mod:`intermimic.rl.vecenv` including the
optional ``state_dict``/``load_state_dict``, so a resumed training run continues bit-exactly.

``python -m tests.rl.sanity_task --run-dir DIR`` trains on it with the CPU profile
(the resume test runs it in a subprocess and kills it).
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
from numpy.typing import NDArray

PHYSICS_DT = 1.0 / 120.0
SUBSTEPS = 4
ARENA_HALF = 1.2
TARGET_HALF = 0.4
REACH_SCALE = 0.02
EFFORT_WEIGHT = 0.01
SUCCESS_RADIUS = 0.05


def point_mass_mjcf(num_envs: int) -> str:
    """MJCF text of ``num_envs`` independent planar point masses (one body per world)."""
    bodies = []
    actuators = []
    for i in range(num_envs):
        bodies.append(
            f'<body name="mass{i}">'
            f'<joint name="x{i}" type="slide" axis="1 0 0" damping="0.3"/>'
            f'<joint name="y{i}" type="slide" axis="0 1 0" damping="0.3"/>'
            f'<geom type="sphere" size="0.02" mass="0.1" contype="0" conaffinity="0"/>'
            f"</body>"
        )
        actuators.append(
            f'<motor joint="x{i}" gear="1" ctrlrange="-1 1" ctrllimited="true"/>'
            f'<motor joint="y{i}" gear="1" ctrlrange="-1 1" ctrllimited="true"/>'
        )
    return (
        '<mujoco model="point_mass_reach">'
        f'<option timestep="{PHYSICS_DT}" gravity="0 0 0" integrator="implicitfast"/>'
        f"<worldbody>{''.join(bodies)}</worldbody>"
        f"<actuator>{''.join(actuators)}</actuator>"
        "</mujoco>"
    )


class PointMassReach:
    """``num_envs`` point masses reaching random targets; the numpy vec-env protocol.

    Observations (float32):

    * ``policy [N, 4]``: target minus position (x, y), velocity (x, y);
    * ``critic [N, 3]``: privileged extras for the critic only: target (x, y) and the
      fraction of the episode left (the value of a truncated episode depends on it).

    Actions ``[N, 2]`` are motor commands, clipped to [-1, 1].
    """

    def __init__(self, num_envs: int = 64, episode_steps: int = 60, seed: int = 0) -> None:
        self.num_envs = num_envs
        self.num_actions = 2
        self.max_episode_length = episode_steps
        self.model = mujoco.MjModel.from_xml_string(point_mass_mjcf(num_envs))
        self.data = mujoco.MjData(self.model)
        self.rng = np.random.default_rng(seed)
        self.target = np.zeros((num_envs, 2))
        self.steps = np.zeros(num_envs, np.int64)

    # -- protocol -----------------------------------------------------------------------
    def reset(self) -> dict[str, NDArray[np.float32]]:
        """Reset every world; return the first observations."""
        self._reset_worlds(np.arange(self.num_envs))
        return self._obs()

    def step(
        self, actions: NDArray[np.floating]
    ) -> tuple[
        dict[str, NDArray[np.float32]],
        NDArray[np.float64],
        NDArray[np.bool_],
        NDArray[np.bool_],
        dict[str, Any],
    ]:
        """Advance all worlds one policy step; finished worlds are reset before returning."""
        a = np.clip(np.asarray(actions, np.float64).reshape(self.num_envs, 2), -1.0, 1.0)
        self.data.ctrl[:] = a.reshape(-1)
        for _ in range(SUBSTEPS):
            mujoco.mj_step(self.model, self.data)
        self.steps += 1
        pos = self._pos()
        dist2 = np.sum((pos - self.target) ** 2, axis=1)
        reach = np.exp(-dist2 / REACH_SCALE)
        effort = -EFFORT_WEIGHT * np.sum(a**2, axis=1)
        reward = reach + effort
        terminated = np.any(np.abs(pos) > ARENA_HALF, axis=1)
        truncated = (self.steps >= self.max_episode_length) & ~terminated
        success = dist2 < SUCCESS_RADIUS**2
        info: dict[str, Any] = {
            "reward_terms": {"reach": reach, "effort": effort},
            "success": success,
            # what an episode hook (PSI in the HOI env) would receive for finished worlds
            "final": {"final_distance": np.sqrt(dist2)},
        }
        done = np.flatnonzero(terminated | truncated)
        if done.size:
            self._reset_worlds(done)
        return self._obs(), reward, terminated, truncated, info

    def state_dict(self) -> dict[str, Any]:
        """Everything the next step depends on: MuJoCo state, targets, counters, RNG."""
        return {
            "qpos": self.data.qpos.copy(),
            "qvel": self.data.qvel.copy(),
            "act": self.data.act.copy(),
            "time": float(self.data.time),
            "target": self.target.copy(),
            "steps": self.steps.copy(),
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = state["qpos"]
        self.data.qvel[:] = state["qvel"]
        self.data.act[:] = state["act"]
        self.data.time = float(state["time"])
        mujoco.mj_forward(self.model, self.data)
        self.target = np.asarray(state["target"], np.float64).copy()
        self.steps = np.asarray(state["steps"], np.int64).copy()
        self.rng.bit_generator.state = state["rng"]

    # -- helpers ------------------------------------------------------------------------
    def _pos(self) -> NDArray[np.float64]:
        return self.data.qpos.reshape(self.num_envs, 2)

    def _reset_worlds(self, ids: NDArray[np.int64]) -> None:
        n = ids.size
        start = self.rng.uniform(-TARGET_HALF, TARGET_HALF, size=(n, 2))
        self.target[ids] = self.rng.uniform(-TARGET_HALF, TARGET_HALF, size=(n, 2))
        qpos = self.data.qpos.reshape(self.num_envs, 2)
        qvel = self.data.qvel.reshape(self.num_envs, 2)
        qpos[ids] = start
        qvel[ids] = 0.0
        self.steps[ids] = 0
        # positions changed outside mj_step: recompute derived quantities
        mujoco.mj_forward(self.model, self.data)

    def _obs(self) -> dict[str, NDArray[np.float32]]:
        pos = self._pos()
        vel = self.data.qvel.reshape(self.num_envs, 2)
        left = 1.0 - self.steps / self.max_episode_length
        return {
            "policy": np.concatenate([self.target - pos, vel], axis=1).astype(np.float32),
            "critic": np.concatenate([self.target, left[:, None]], axis=1).astype(np.float32),
        }


# -- evaluation and training entry point ----------------------------------------------------
def evaluate(policy: Any, num_envs: int = 64, episode_steps: int = 60, seed: int = 12345) -> float:
    """Mean return of the first episode of each of ``num_envs`` fresh worlds.

    ``policy`` maps numpy observations ``{group: [N, D]}`` to actions ``[N, 2]``;
    ``"random"`` draws uniform actions in [-1, 1] (seeded).
    """
    env = PointMassReach(num_envs, episode_steps, seed)
    rng = np.random.default_rng(seed + 1)
    obs = env.reset()
    returns = np.zeros(num_envs)
    active = np.ones(num_envs, bool)
    for _ in range(episode_steps):
        if isinstance(policy, str) and policy == "random":
            actions = rng.uniform(-1.0, 1.0, size=(num_envs, 2))
        else:
            actions = policy(obs)
        obs, reward, terminated, truncated, _ = env.step(actions)
        returns += np.where(active, reward, 0.0)
        active &= ~(terminated | truncated)
        if not active.any():
            break
    return float(returns.mean())


def sanity_settings(seed: int = 0, **overrides: Any) -> Any:
    """The CPU profile tuned for this task (small nets, more exploration, short run)."""
    from intermimic.rl.settings import PolicySettings, PPOSettings, TrainSettings

    base: dict[str, Any] = {
        "seed": seed,
        "policy": PolicySettings(
            actor_hidden_dims=[64, 64],
            critic_hidden_dims=[64, 64],
            activation="elu",
            init_log_std=-1.0,
            learn_std=False,
        ),
        "ppo": PPOSettings(
            horizon=32,
            learning_rate=1e-3,
            schedule="adaptive",
            num_learning_epochs=5,
            num_mini_batches=4,
            gamma=0.95,
        ),
        "total_env_steps": 64 * 32 * 60,
        "save_interval": 10,
        "torch_threads": 1,
    }
    base.update(overrides)
    return TrainSettings(**base)


def main(argv: list[str] | None = None) -> None:
    """Train PPO on the sanity task (``python -m tests.rl.sanity_task --help``)."""
    from intermimic.rl.train import Trainer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-interval", type=int, default=10)
    parser.add_argument(
        "--sigkill-after-checkpoint",
        type=int,
        default=None,
        help="(tests) SIGKILL this process right after writing this iteration's checkpoint",
    )
    args = parser.parse_args(argv)

    def maybe_die(iteration: int, path: Path) -> None:
        if args.sigkill_after_checkpoint is not None and iteration >= args.sigkill_after_checkpoint:
            os.kill(os.getpid(), signal.SIGKILL)

    env = PointMassReach(args.num_envs, seed=args.seed)
    settings = sanity_settings(args.seed, save_interval=args.save_interval)
    trainer = Trainer(env, settings, args.run_dir, on_checkpoint=maybe_die)
    result = trainer.train(args.iterations)
    print(
        f"iterations={result.iterations} env_steps={result.env_steps} "
        f"resumed_from={result.resumed_from} recent_mean_return={result.recent_mean_return}"
    )


if __name__ == "__main__":
    main()
