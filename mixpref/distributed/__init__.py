"""torch.distributed for mixpref: sharded fits and encoding across processes and machines.

- ``comm``: :func:`init` (process group from torchrun's environment, with a timeout on
  every collective), :class:`Comm` (sums, gathers, agreement on errors)
- ``shard``: annotators dealt out to ranks, each rank's Problem over its own observations
- ``objective``: the data term and its gradient summed over ranks (exact full-batch objective)
- ``fitting``: :func:`fit` (any model, every rank, same result as one process; MAP or SVI)
- ``svi``: the SVI step with the ELBO's gradients summed over ranks
- ``embed``: :func:`embed_sharded` (each rank encodes a disjoint share into the shared cache)

Launch with ``torchrun --nproc-per-node P -m mixpref fit ...`` (gloo on CPU, NCCL on GPU),
or call :func:`fit` on every rank of a process group you initialised yourself.
"""

from .comm import Comm, init, launched
from .fitting import fit

__all__ = ["Comm", "embed_sharded", "fit", "init", "launched"]


def __getattr__(name):
    if name == "embed_sharded":
        from .embed import embed_sharded

        return embed_sharded
    raise AttributeError(name)
