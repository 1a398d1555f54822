"""Training-free refinement: a sampling-based planner that tracks a clip in physics.

:func:`~intermimic.plan.planner.plan_clip` drives the teacher's own tracking
environment with sampled PD-target residuals (MPPI with annealed noise over a few knots of
a receding horizon) and commits the best sample's first step at every frame; the
committed motion is a :class:`~intermimic.rl.rollout.Rollout`, the same record a teacher's
replay writes, so refinement, publishing and the student read either. Its ``base`` makes
it plan around an earlier plan's actions (MPC around a plan), and
:class:`~intermimic.plan.mppi.MppiStep` is one committed frame from any state (an
expert's label for a learner).
"""

from intermimic.plan.mppi import MppiStep
from intermimic.plan.planner import PlanResult, plan_clip
from intermimic.plan.settings import PlannerSettings

__all__ = ["MppiStep", "PlanResult", "PlannerSettings", "plan_clip"]
