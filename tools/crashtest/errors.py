"""The harness's outcomes other than success."""


class Violation(Exception):
    """The table disagrees with the model, or the sidecar broke a rule of the protocol."""


class JobFailed(Exception):
    """A call failed in a way that makes the job fail over (restore from a checkpoint)."""


class SidecarDown(JobFailed):
    """A call failed because a sidecar process is gone (killed, maybe at a kill point)."""
