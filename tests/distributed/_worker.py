"""Worker for the distributed tests: one rank of a gloo group fitting the test population."""

import os
import sys

import numpy as np
import torch


def population(kind):
    import mixpref as mp

    if kind == "fresh":
        from tests.models._fresh import fresh_data

        return fresh_data(n=1200, dim=6, n_ann=40, seed=3)
    pop = mp.synthetic.population(n_types=2, n_annotators=41, comparisons_per_annotator=30, dim=6, n_prompts=8,
                                  responses_per_prompt=6, logit_sd=2.0, random_state=2)
    return pop.data, pop.features


def estimators(mode="ok"):
    import mixpref as mp

    if mode == "svi":
        svi = {"dtype": "float64", "inference": "svi", "svi_steps": 40, "n_samples": 5}
        return {"bt": mp.BradleyTerry(**svi), "mix": mp.MixtureBT(n_types=2, n_restarts=2, **svi)}
    if mode == "minibatch":
        return {"bt": mp.BradleyTerry(dtype="float64", batch_size=10, max_steps=300, lr=0.05),
                "mix": mp.MixtureBT(n_types=2, dtype="float64", n_restarts=2, batch_size=10, max_steps=300)}
    if mode == "svi-minibatch":
        # 10 annotators per step (4 batches an epoch), the MAP start by minibatch Adam
        svi = {"dtype": "float64", "inference": "svi", "svi_steps": 40, "n_samples": 5, "batch_size": 10,
               "max_steps": 60}
        return {"bt": mp.BradleyTerry(**svi), "mix": mp.MixtureBT(n_types=2, n_restarts=2, **svi)}
    return {"bt": mp.BradleyTerry(dtype="float64"), "mix": mp.MixtureBT(n_types=2, dtype="float64", n_restarts=2)}


def cached_features(feats, folder, drop_one=False):
    """The features as float32 cache shards (one per 10 responses); ``drop_one`` deletes a shard."""
    from mixpref.features.cache import CachedFeatures, VectorCache, text_hashes

    cache = VectorCache(folder, {"test": "distributed"}, np.float32)
    ids = [str(i) for i in feats.ids]
    hashes = text_hashes(ids)
    for start in range(0, len(ids), 10):
        cache.write(hashes[start:start + 10], feats.embeddings[start:start + 10])
    if drop_one:
        cache.shard_paths()[0].unlink()
        cache = VectorCache(folder, {"test": "distributed"}, np.float32)
    return CachedFeatures(cache, list(feats.ids), hashes)


def run(rank, world, port, out, kind, mode):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), MIXPREF_DIST_TIMEOUT="60")
    torch.set_num_threads(1)
    import torch.distributed as dist

    import mixpref as mp
    from mixpref.distributed import Comm, fit

    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        data, feats = population(kind)
        if mode == "different-data" and rank == 1:
            data = data.select(annotators=list(data.annotators[:-1]))
        if mode == "missing-shard":
            feats = cached_features(feats, f"{out}.cache{rank}", drop_one=rank == 1)
        ests = estimators(mode)
        if mode == "tiny-budget":
            ests = {"mix": mp.MixtureBT(n_types=2, memory_budget=1000)}
        if mode == "big-batch":
            ests = {"mix": mp.MixtureBT(n_types=2, inference="svi", batch_size=len(data.annotators) + 1)}
        results = {}
        for name, est in ests.items():
            m = fit(est, data, feats, comm=Comm())
            results[name] = m
        if rank == 0:
            np.savez(out, **{f"{k}_objective": m.objective_ for k, m in results.items()},
                     **{f"{k}_{p}": v.numpy() for k, m in results.items() for p, v in m.params_.items()},
                     mix_resp=results["mix"].responsibilities_.to_numpy(),
                     mix_per_rank=np.array(results["mix"].distributed_["observations_per_rank"]),
                     **{f"{k}_svi_losses": m.svi_losses_ for k, m in results.items() if hasattr(m, "svi_losses_")},
                     **{f"{k}_draw_{p}": v.numpy() for k, m in results.items() if m.posterior_samples_ is not None
                        for p, v in m.posterior_samples_.items()})
    except mp.DataError as err:
        with open(f"{out}.rank{rank}.err", "w") as f:
            f.write(str(err))
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    run(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6])
