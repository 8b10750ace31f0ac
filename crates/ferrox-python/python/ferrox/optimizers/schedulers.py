"""Learning-rate schedules: functions of the step (an array, or an int) that
optimizers evaluate at every update when given one as ``learning_rate``."""

import math

import ferrox.core as mx

__all__ = ["cosine_decay", "exponential_decay", "join_schedules", "linear_schedule", "step_decay"]


def exponential_decay(init, decay_rate):
    """``init * decay_rate ** step``.

    Example::

        lr = exponential_decay(1e-1, 0.9)
        optimizer = SGD(learning_rate=lr)
    """

    def schedule(step):
        return init * decay_rate**step

    return schedule


def step_decay(init, decay_rate, step_size):
    """``init * decay_rate ** (step // step_size)``: multiplied by ``decay_rate``
    every ``step_size`` steps."""

    def schedule(step):
        return init * decay_rate ** (step // step_size)

    return schedule


def cosine_decay(init, decay_steps, end=0.0):
    """Half a cosine from ``init`` down to ``end`` over ``decay_steps`` steps, then
    ``end``: ``end + (init - end) * (1 + cos(pi * min(step, decay_steps) / decay_steps)) / 2``."""

    def schedule(step):
        s = mx.minimum(step, decay_steps)
        decay = 0.5 * (1.0 + mx.cos((math.pi / decay_steps) * s))
        return end + decay * (init - end)

    return schedule


def linear_schedule(init, end, steps):
    """From ``init`` to ``end`` linearly over ``steps`` steps, then ``end`` (a warm-up,
    typically, joined to another schedule with :func:`join_schedules`)."""
    if steps < 1:
        raise ValueError(f"steps must be greater than 0, but got {steps}.")

    def schedule(step):
        s = mx.minimum(step, steps)
        return s * ((end - init) / steps) + init

    return schedule


def join_schedules(schedules, boundaries):
    """One schedule made of several: ``schedules[i + 1]`` takes over at step
    ``boundaries[i]``, and is given the steps counted from that boundary.

    Example::

        warmup = linear_schedule(0, 1e-1, steps=10)
        cosine = cosine_decay(1e-1, 200)
        lr = join_schedules([warmup, cosine], [10])
    """
    if len(schedules) == 0:
        raise ValueError("Must provide at least 1 schedule to join.")
    if len(schedules) != len(boundaries) + 1:
        raise ValueError(
            f"Received {len(boundaries)} boundaries but expected {len(schedules) - 1}."
        )

    def schedule(step):
        output = schedules[0](step)
        for boundary, later in zip(boundaries, schedules[1:]):
            output = mx.where(step < boundary, output, later(step - boundary))
        return output

    return schedule
