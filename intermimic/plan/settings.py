"""Settings of the sampling planner (:mod:`intermimic.plan.planner`)."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from intermimic.env.settings import TerminationSettings

#: The planner's own early-termination bounds, named as the environment's.
BOUNDS = ("max_key_body_error", "max_object_error")
#: Tracking bounds a judged window's attempts must keep (``window`` > 0), and the
#: per-frame error each bounds (a rollout array).
WINDOW_BOUNDS: dict[str, str] = {
    "window_max_key_body_error": "key_body_error",
    "window_max_object_error": "object_error",
}
#: Fields added after plans were cached, and their value that plans the way it was done
#: before them (a term or option off at 0; one committed step per planning call).
DEFAULT_BEFORE: dict[str, float] = {
    "hand_object_weight": 0,
    "residual_weight": 0,
    "noise_basis": 0,
    "pose_weight": 0,
    "commit_steps": 1,
    "foot_height_weight": 0,
    "foot_slide_weight": 0,
    "object_velocity_weight": 0,
    "swing_clearance": 0,
    "foot_noise": 1,
    "arm_noise": 1,
    "swing_lead": 0,
    "tries": 1,
    "end_hold": 0,
    "object_jerk_weight": 0,
    "ground_depth_weight": 0,
    "window": 0,
    "window_tries": 1,
    "object_points_weight": 0,
    "root_height_weight": 0,
}


class PlannerSettings(BaseModel):
    """MPPI over PD-target residual knots; costs per policy step.

    Residuals are in the tracking environment's action units (``[-1, 1]`` spans a hinge's
    range), added to the actions whose PD targets are the next reference pose. The cost
    weights were chosen on ``sub2_largetable_000`` (2 cores, whole clip from the MoCap
    start; E_h / E_o in cm). On an earlier install: the environment's reward and hands
    only, 152 frames, 26.1 / 18.0; with root 20, centre of mass 10, foot 2: 152 frames,
    20.9 / 15.1; with key bodies 20 and object 8 too (the defaults): 152 frames, 15.3 /
    12.7; with foot 10 and action rate 100 instead: 71 frames (without key bodies and
    object: 140). With MuJoCo 4.0.0 and torch 2.13.0 (2026-12-02) the defaults track 152
    frames at 11.5 / 9.5 (body jitter 4.3 mm); ``first_knot_noise`` 0.3: 85 frames at
    9.2 / 11.3 (jitter 2.0 mm), ``grasp_weight`` 2: 152 frames at 15.7 / 19.2 (floating
    contact 0 % of frames, against 3.3 %), so both stay off by default. ``seed`` 1 of the
    defaults (2026-12-03): 152 frames at 16.5 / 16.2; seed 2: falls at frame 80; seed 3:
    152 frames at 11.1 / 13.9. Single runs differ by about 5 cm, so settings are compared
    over seeds (``bench/planner.py --seeds``; docs/refinement_log.md, "Seeds, and the planner's
    noise").
    Those figures are at ``sigma`` 0.1; its default is 0.05 since 2026-12-03 (over 4 seeds:
    152 frames each, E_h 7.5-9.8 / E_o 8.5-14.1 cm)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: int = Field(
        64, ge=2, description="worlds, one plan sample each (sample 0 is the nominal)"
    )
    horizon: int = Field(20, ge=1, description="policy steps each sample is rolled out")
    end_hold: int = Field(
        0,
        ge=0,
        le=600,
        description="frames the clip's last reference frame is held past its end while "
        "planning (the committed motion still ends at the clip's last frame): without it "
        "the horizon shrinks to nothing over the last `horizon` frames and they are "
        "planned ever more myopically (sub2_largetable_000, seed 7 of the feet settings: "
        "E_h 31 -> 36 cm over its last frames). Measured with 20 (2026-12-05, that clip, "
        "the feet settings with object_velocity_weight 2 and action_rate_weight 500, "
        "seeds 1 and 7): frames 0-132 as without it, the ends no better: foot skating "
        "0.115 -> 0.121 and 0.143 -> 0.166 m/s (the feet step towards the held pose), "
        "object jitter 0.683 -> 0.690 and 0.66 -> 0.67 mm. So off by default",
    )
    knots: int = Field(
        5, ge=1, description="residual knots over the horizon, linearly interpolated"
    )
    iterations: int = Field(3, ge=1, description="MPPI updates per committed step")
    sigma: float = Field(
        0.05,
        ge=0,
        description="noise std of body hinges (action units). On sub2_largetable_000 "
        "(2026-12-03, 4 seeds each) 0.05 tracked all 152 frames in 4 of 4 runs at E_h "
        "7.5-9.8 / E_o 8.5-14.1 cm, body jitter 3.0-3.5 mm, ground penetration 2.1-3.3 "
        "cm; 0.1 (the default before) 152 frames in 3 of 4 (one fell at 80) at E_h "
        "10.0-16.5 / E_o 9.5-16.2, jitter 4.0-6.3 mm, ground penetration 2.5-4.9 cm. "
        "Half the noise also halves the committed motion's joint-space drift (RMS "
        "body-hinge error 0.41-0.60 rad over the last 30 frames, against 0.93)",
    )
    finger_sigma: float = Field(
        0.025,
        ge=0,
        description="noise std of finger hinges. 0 (the tuned preset's, for the table's "
        "body jitter) holds the fingers at the capture's pose, so a hand can push but not "
        "grip: on sub2_woodchair_003, which the capture lifts by its back with one hand "
        "and turns 86 degrees, the tuned settings' plans drag the chair on its legs and "
        "turn it at most 55 degrees (E_o 11.9 / 9.5 cm, seeds 1 / 3); with 0.025 the hand "
        "lifts it 4.5 cm and turns it 77 degrees (E_o 3.9 / 6.8 cm, E_h 9.4 / 10.9; "
        "object_rest, ground_depth_weight 5000, hand_object_weight 20, no windows, foot "
        "skating worse than the rule). With windows of 30 x 3 and bounds of 0.1 seed 1 "
        "passed the rule at E_h 6.7 / E_o 11.6 cm but turned the chair 43 degrees (no "
        "attempt of the turn's windows gripped) and seed 3 fell at frame 102 (2026-12-07, "
        "docs/refinement_log.md 'Fingers that grip')",
    )
    foot_noise: float = Field(
        1.0,
        ge=0,
        le=1,
        description="factor of sigma on the ankle and toe hinges (their actuators' names "
        "say ankle or toe). The SMPL-X humanoid's foot hinges span -pi..pi, so sigma 0.05 "
        "moves their PD targets by 9 degrees: a standing foot rocks on its sole (on "
        "sub2_largetable_000 its bodies turn at 1.3-1.5 rad/s where the captured ones "
        "turn at 0.5) and its origin moves 0.05-0.2 m/s, which the artifact report counts "
        "as foot skating. 0 brings the turning to 0.9-1.0 rad/s; on that clip (240 Hz, "
        "foot_slide_weight 2, seed 1, 2026-12-04) 0 with swing_clearance 0.04 and "
        "swing_lead 3 tracked 152 frames at E_h 7.6 / E_o 4.9 cm, skating 0.122 m/s, no "
        "floating contact: every figure of the quality rule but object jitter "
        "(docs/refinement_log.md, "
        "'Quiet feet, early lifts'). One run, so the default stays 1",
    )
    arm_noise: float = Field(
        1.0,
        ge=0,
        le=1,
        description="factor of sigma on the arm hinges (actuators named thorax, shoulder, "
        "elbow or wrist), as foot_noise on the feet: the arms carry the object, and a "
        "committed kick of their PD targets (9 degrees at sigma 0.05 on the SMPL-X "
        "humanoid's +-pi hinges) shakes what they hold (the artifact report's object "
        "jitter). On sub2_largetable_000 (240 Hz, the feet settings, "
        "object_velocity_weight 2, action_rate_weight 500, backtrack 10; 2026-12-05) 0.5 "
        "took seed 1's object jitter from 0.68 to 0.52 mm and body jitter from 1.42 to "
        "1.11 mm, but its foot skating from 0.115 to 0.170 m/s; seeds 0, 2 and 3 needed "
        "8-15 rewinds and failed four figures (docs/refinement_log.md, 'Object jitter'), so the "
        "default stays 1",
    )
    noise_basis: int = Field(
        0,
        ge=0,
        description="0: independent noise on every body hinge; d > 0: the body hinges' noise "
        "lies in the d principal directions of the clip's reference motion (its PD "
        "targets' frame-to-frame changes), with the same total energy (sigma x "
        "sqrt(hinges / d) per direction): coordinated whole-body corrections from few "
        "samples, and no residual outside those directions. On sub2_largetable_000 "
        "(2026-12-03) 12 directions tracked 152 frames at E_h 12.6 / E_o 22.8 cm, 24 at "
        "19.8 / 15.0: within the spread of the defaults' seeds, so it stays off",
    )
    first_knot_noise: float = Field(
        1.0,
        ge=0,
        le=1,
        description="noise factor of the first knot, the one whose value is committed: "
        "below 1 the committed PD targets move from frame to frame by the warm-started "
        "plan's slope and less by a fresh noise draw (less body jitter)",
    )
    commit_steps: int = Field(
        1,
        ge=1,
        description="policy steps of the committed sample kept per planning call (its "
        "first ones, as simulated in its rollout): the receding horizon moves that many "
        "frames at a time. Above 1 the committed PD targets take a fresh noise draw only "
        "every commit_steps frames and follow the sample's interpolated knots in between "
        "(less body jitter), and a clip costs that many times fewer rollouts, at the "
        "price of feedback only every commit_steps frames. On sub2_largetable_000 "
        "(2026-12-04, sigma 0.05) 4 planned in 107-226 s instead of 1,220-1,930 with body "
        "jitter 2.2-2.8 mm (1: 3.0-3.5) but reached the last frame in 1 of 4 seeds (1: 4 "
        "of 4), and with samples 256 fell at frame 104; 2 fell at 101, so it stays 1",
    )
    anneal: float = Field(0.6, gt=0, le=1, description="noise factor per iteration")
    temperature: float = Field(
        0.1, gt=0, description="MPPI temperature as a fraction of the samples' cost spread"
    )
    commit: Literal["mean", "best"] = Field(
        "best",
        description="which sample's first step is committed: 'mean', the last iteration's "
        "nominal (the MPPI average of the iterations before it: smooth from frame to "
        "frame), unless it terminates sooner than the best sample; 'best', the "
        "lowest-cost sample of all iterations (measured on sub2_largetable_000's first 30 "
        "frames: 'mean' tracked worse, E_h 7.2 against 4.4 cm, and was no smoother)",
    )
    termination_cost: float = Field(
        50.0, ge=0, description="per step of the horizon left when a sample terminates (IET)"
    )
    hand_weight: float = Field(
        20.0, ge=0, description="per m a hand labelled in contact is beyond 2 cm of the object"
    )
    hand_object_weight: float = Field(
        0.0,
        ge=0,
        description="per m a hand labelled in contact is beyond 5 cm from where the "
        "reference's hand is on the object (its bodies' mean distance, in the object's "
        "frame): hands that hold the object where the capture holds it, not anywhere on it. "
        "On sub2_woodchair_003, carried by one hand (the demo profile's settings with "
        "object_rest and ground_depth_weight 5000, 2026-12-06), 20 kept the hand at the "
        "chair's back, not 25 cm lower, and the torso upright: E_h 12.15 -> 8.54 cm on "
        "seed 1, 14.34 -> 9.07 on seed 3, 11.18 -> 11.35 on seed 2 (crouched); with "
        "windows of 30 x 3 and bounds of 0.1 the chair's plan was full at 9.32 / 9.34. On "
        "sub2_largetable_000 (seed 2) 10.87 -> 10.26 with more skating, so it stays off by "
        "default",
    )
    object_weight: float = Field(8.0, ge=0, description="per m of object position error")
    object_points_weight: float = Field(
        0.0,
        ge=0,
        description="per m of mean object surface-point error in the world frame (the "
        "E_o figure itself: position and orientation). The environment's reward takes the "
        "object's rotation in the humanoid's heading frame, so a person who turns with "
        "the object pays little for it, and object_weight is the centre only: on "
        "sub2_largetable_000 (seed 0 of the demo profile's planner, 2026-12-05) the table "
        "ended 90 degrees off its capture, E_o 17.1 cm of which the centre 9.2",
    )
    object_velocity_weight: float = Field(
        0.0,
        ge=0,
        description="per m/s of the object's linear velocity error against the reference's "
        "(the capture's object moves smoothly): a held object that does not shake, the "
        "artifact report's object jitter as a cost. On sub2_largetable_000 (240 Hz, one "
        "seed, 2026-12-04) 4 cut the first 79 frames' object jitter from 0.59 to 0.36 mm "
        "but the feet skated more (0.15 against 0.09 m/s) and the run fell at frame 102",
    )
    body_weight: float = Field(20.0, ge=0, description="per m of mean key-body position error")
    root_weight: float = Field(20.0, ge=0, description="per m of horizontal root error")
    root_height_weight: float = Field(
        0.0,
        ge=0,
        description="per m of the root's height error (the pelvis above or below the "
        "reference's): a person who carries the object upright, not crouched under it. "
        "On sub2_largetable_000 with object_points_weight 20 (seed 0 of the demo "
        "profile's planner, 2026-12-05) the root sank 1.6 / 4.1 / 10.2 / 14.5 cm below the "
        "capture's by quarter of the clip, the head 18 cm off, E_h 10.8 cm; 20 on top "
        "made it worse (the same seed: 152 frames after 84 minutes of rewinds at frames "
        "122-137, E_h 14.2 / E_o 23.2 cm, skating 0.26 m/s), so it stays off",
    )
    pose_weight: float = Field(
        0.0,
        ge=0,
        description="per rad of mean absolute body-hinge angle error (sim against the "
        "reference, wrapped; fingers left out): the pose itself, where the reward's "
        "rotation term weighs bodies near the object little and twists about a limb's "
        "own axis move no key body. The committed poses drift in joint space along a "
        "clip (sub2_largetable_000, defaults: RMS body-hinge error 0.07-0.09 rad over the "
        "first 30 frames, about 0.9 over the last, mostly twists, the residuals equal to "
        "it). On that clip (seed 0, 2026-12-03) 5 left the drift as it was (1.0 rad) and "
        "tracked 152 frames at E_h 15.9 / E_o 13.1 cm; 20 held it to 0.35 rad at frames "
        "90-99 (the defaults: 0.48-0.71) and fell at frame 99 (E_h 14.3 / E_o 8.1): a "
        "pose nearer the reference's does not hold the contacts, so it stays off",
    )
    com_weight: float = Field(
        10.0,
        ge=0,
        description="per m the centre of mass's horizontal offset from the middle of the "
        "feet differs from the reference's (balance over the support)",
    )
    foot_weight: float = Field(
        2.0,
        ge=0,
        description="per m/s of horizontal foot speed where the reference foot stands "
        "still (< 0.2 m/s): no skating",
    )
    foot_height_weight: float = Field(
        0.0,
        ge=0,
        description="per m of the foot bodies' (ankles, toes) origin heights' absolute "
        "error against the reference's, summed: feet that lift where the capture steps",
    )
    foot_slide_weight: float = Field(
        0.0,
        ge=0,
        description="per m/s of horizontal speed of a simulated foot body near the ground "
        "(within 2 cm of its floor, weight falling to 0 at 4 cm), summed: the artifact "
        "report's foot skating as a cost, whatever the reference's foot does",
    )
    swing_clearance: float = Field(
        0.0,
        ge=0,
        le=0.2,
        description="m; above 0 the clip is planned against a reference whose swing feet "
        "are lifted by up to this much (:func:`intermimic.motion.footlift.lift_swing_feet`: "
        "a smooth bump where a foot moves while the other stands, the foot's orientation "
        "kept): the captured feet glide near the floor in their steps, and PD targets that "
        "follow them drag the simulated feet (foot skating). Errors are then measured "
        "against the lifted reference; the plan still starts at the captured clip's MoCap "
        "start, where its consumers (a teacher's attempts) replay it",
    )
    swing_lead: int = Field(
        0,
        ge=0,
        le=15,
        description="frames the swing_clearance lift starts before the foot moves (it "
        "lands as before): the simulated foot lags its PD targets and has to unload "
        "before it rises, so a lift that starts with the step leaves its first frames "
        "dragging near the floor (on sub2_largetable_000 the simulated toe stays within "
        "2 cm for 2-3 frames into a step where the captured one is 2 cm up). With "
        "swing_clearance 0.04 and foot_noise 0 (2026-12-04, one run each) 3 took the "
        "skating from 0.138 to 0.122 m/s and floating contact from 3.3 to 0 %",
    )
    grasp_weight: float = Field(
        0.0,
        ge=0,
        description="per step a hand labelled in contact presses the object with less than "
        "grasp_force, times the missing fraction: hands that hold, not only touch",
    )
    grasp_force: float = Field(
        20.0, gt=0, description="normal force (N) on the object a holding hand should reach"
    )
    ground_depth_weight: float = Field(
        0.0,
        ge=0,
        description="per m of the deepest humanoid geom's depth below the ground beyond "
        "GROUND_SLACK (intermimic.plan.costs, 4 mm): the quality rule's ground "
        "penetration (the lowest geom point, intermimic.contact.artifacts) as a cost, "
        "for the single hard landings that set its maximum (sub2_largetable_000 at 240 "
        "Hz, seed 5 of the feet settings: a toe 1.2 cm deep at frame 111, the next "
        "deepest 0.6 cm); capsule, box and sphere geoms (the SMPL-X humanoid). Measured "
        "with 1000 on that seed (2026-12-05, docs/refinement_log.md "
        "'The clip's end, the object's jerk, "
        "hard landings'): the same landing 0.90 cm deep (the rule's bar 0.82), the "
        "other frames' penetration lower (0.41 cm at most against 0.60), foot skating "
        "0.125 -> 0.178 m/s. So off by default",
    )
    object_jerk_weight: float = Field(
        0.0,
        ge=0,
        description="per m of the object's third difference of position over four frames "
        "(the step's and the three before it, committed or sampled) beyond the reference's "
        "own: the motion the quality rule's object jitter measures (third differences at "
        "the clip's rate, intermimic.contact.artifacts), charged where it arises. "
        "Measured with 200 (2026-12-05, sub2_largetable_000, the feet settings with "
        "object_velocity_weight 2 and action_rate_weight 500): seed 7 0.69 mm against "
        "0.66 without it (and 2.6 % floating contact), seed 1 rewound 17+ times between "
        "frames 80 and 110 (none without it) and was stopped after 40 minutes: the "
        "object's jerk at 30 fps is its carried vibration, which one step of PD targets "
        "barely changes. So off by default",
    )
    action_rate_weight: float = Field(
        0.0,
        ge=0,
        description="per (action unit)^2 of mean squared change of the PD-target actions "
        "from one step to the next, the first step from the last committed action: "
        "smooth targets, less body jitter. On sub2_largetable_000 (240 Hz, the feet "
        "settings, object_velocity_weight 2, seed 1; 2026-12-05) 500 gave object jitter "
        "0.68 mm (at 0: 0.71) and skating 0.115 m/s, 2000 tracked looser (E_h 14.8 "
        "against 8.8 cm) and skated 0.161; seed 0 with 500 needed 9 rewinds "
        "(docs/refinement_log.md, "
        "'Object jitter'), so the default stays 0",
    )
    residual_weight: float = Field(
        0.0,
        ge=0,
        description="per (action unit)^2 of mean squared residual (the sample's offset from "
        "the base actions, the reference's PD targets) at each step: MPPI's control cost, "
        "a prior that the reference pose is nearly right. The warm-started residuals grow "
        "along a clip (sub2_largetable_000, defaults: RMS 0.04 action units on the body "
        "hinges over the first 30 frames, 0.29-0.35 over the last); with 20 they still grow "
        "(to 0.24-0.28; 60: 0.34) and the clip tracks no closer (E_h 15.6 and 12.2 cm over "
        "two seeds; 60: 20.4; 2026-12-03): the residuals follow the state's drift, they do "
        "not cause it",
    )
    max_key_body_error: float | None = Field(
        None,
        gt=0,
        description="m; a tighter bound than the environment's early termination on the "
        "mean key-body error (its E_h) while planning: a sample beyond it terminates (its "
        "termination_cost), so the committed motion stays within it or the planner rewinds "
        "(backtrack); None: the environment's",
    )
    max_object_error: float | None = Field(
        None,
        gt=0,
        description="m; the same for the mean object surface-point error (E_o)",
    )
    backtrack: int = Field(
        0,
        ge=0,
        description="frames to rewind when every sample dies on its first step, to plan "
        "those frames again with fresh noise (0: stop there, the partial result); each "
        "further failure at or before the furthest so far rewinds one backtrack further "
        "back from it",
    )
    retries: int = Field(20, ge=0, description="rewinds allowed per clip (with backtrack > 0)")
    seed: int = 0
    tries: int = Field(
        1,
        ge=1,
        le=64,
        description="plans per clip, with the seeds seed, seed + 1, ..., seed + tries - 1 "
        "(each cached as that seed's single plan); plan_clips keeps the one that tracks "
        "furthest (then the lowest E_h), the refine stage the one the quality rule judges "
        "best (stages.refine_choice). Why: on sub2_largetable_000 one setting's seeds differ "
        "more than settings do (nine seeds, 2026-12-05: E_h 8.8-20.7 cm, 0-9 rewinds, 1-4 "
        "failing figures; tries 4 from seed 0 keeps seed 1, one bar short by 0.005 mm of "
        "object jitter), and the tries are independent, the shape of work a GPU does at "
        "once. Costs tries times the planning time",
    )

    window: int = Field(
        0,
        ge=0,
        le=10_000,
        description="frames per judged window (0: off): the clip is planned in windows of "
        "this many frames, each up to window_tries times from the same start with fresh "
        "noise, until the judge passes the motion committed so far (the refine stage's "
        "judge: the quality rule over the frames planned so far; the library's: none "
        "passes, the closest tracking is kept); the best attempt is kept and the next "
        "window starts from its end. Rewinds (backtrack) stay within a window. Why: the "
        "figures of one seed's windows scatter as widely as whole runs do "
        "(sub2_largetable_000, 2026-12-05: foot skating per 30 frames 0.06-0.20 m/s over "
        "frames 30-60 and 0.12-0.38 over 60-90 across seeds of one setting), so choosing "
        "each window picks from many more motions than choosing whole tries. Measured "
        "(that clip, 240 Hz, the seed table's setting, seed 0; "
        "docs/refinement_log.md 'Windows, each chosen "
        "by the rule'): window 25 with window_tries 3 took seed 0 from 9 rewinds and four "
        "failing figures to none and one (skating 0.154 m/s), at about three times the "
        "planning, with the tracking drifting where the rule does not look (E_h 37.7 cm "
        "over the last 30 frames). So off by default",
    )
    window_tries: int = Field(1, ge=1, le=16, description="plans of a window at most (window > 0)")
    window_max_key_body_error: float | None = Field(
        None,
        gt=0,
        description="m; with windows, an attempt whose mean key-body error over its own "
        "window's frames (E_h there) is above this fails one more rule (the judge's "
        "count, the excess over the bound as a fraction of it added to its shortfall): "
        "windows are then chosen for tracking as well as for the quality rule, which does "
        "not look at tracking (the table's windowed run drifted to E_h 37.7 cm over its "
        "last 30 frames with every window judged). Measured at 0.1 with windows of 30 "
        "frames, 3 attempts "
        "(docs/refinement_log.md 'Windows judged on tracking too', 2026-12-06): the "
        "table's seed 2 from 10.9 / 7.8 to 8.8 / 4.3 cm, the chair's artifacts within the "
        "bars over 155 frames; from the third or fourth window on no attempt was within "
        "the bound (the posture drifts in every attempt), and neither clip passed the "
        "rule. None: not judged",
    )
    window_max_object_error: float | None = Field(
        None,
        gt=0,
        description="m; the same for the mean object surface-point error (E_o)",
    )

    def try_settings(self) -> list[PlannerSettings]:
        """One single-plan settings per try: this with ``seed + k`` and ``tries`` 1, for
        ``k < tries`` (try 0 is the plan ``tries`` 1 makes, same hash and cache)."""
        return [
            self.model_copy(update={"seed": self.seed + k, "tries": 1}) for k in range(self.tries)
        ]

    @model_validator(mode="after")
    def _commit_within_horizon(self) -> PlannerSettings:
        if self.commit_steps > self.horizon:
            raise ValueError(
                f"commit_steps={self.commit_steps} is longer than the horizon "
                f"({self.horizon} steps): only simulated steps can be committed"
            )
        if self.window_tries > 1 and self.window == 0:
            raise ValueError(
                f"window_tries={self.window_tries} without a window: set window (frames)"
            )
        for bound in WINDOW_BOUNDS:
            if getattr(self, bound) is not None and self.window == 0:
                raise ValueError(f"{bound} without a window: set window (frames)")
        if self.swing_lead > 0 and self.swing_clearance == 0:
            raise ValueError(
                f"swing_lead={self.swing_lead} without swing_clearance: there is no lift to lead"
            )
        return self

    def sha256(self) -> str:
        """Hash of the settings: with the clip's, it names a planner refinement. Fields that
        change nothing as set (no backtracking, no bound, a :data:`DEFAULT_BEFORE` field at
        its value there) are left out of it: plans made before those fields existed keep
        their names (and caches)."""
        dump = self.model_dump()
        if self.backtrack == 0:
            del dump["backtrack"], dump["retries"]
        for name, before in DEFAULT_BEFORE.items():
            if dump[name] == before:
                del dump[name]
        for bound in (*BOUNDS, *WINDOW_BOUNDS):
            if dump[bound] is None:
                del dump[bound]
        return hashlib.sha256(json.dumps({"planner": dump}, sort_keys=True).encode()).hexdigest()

    def termination(self, env: TerminationSettings) -> TerminationSettings:
        """The environment's early termination ``env`` with this planner's tighter bounds."""
        update: dict[str, float] = {}
        for name in BOUNDS:
            mine, theirs = getattr(self, name), getattr(env, name)
            if mine is not None:
                update[name] = mine if theirs is None else min(mine, theirs)
        return env.model_copy(update=update)
