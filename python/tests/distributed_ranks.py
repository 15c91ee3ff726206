"""Runs a test's function on the two ranks of a ``torch.distributed`` group (``gloo``,
on the CPU) and gives back what each rank returned, in rank order."""

import pickle


def _rank(rank, worker, init, out):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        result = worker(rank)
    finally:
        dist.destroy_process_group()
    with open(f"{out}.{rank}", "wb") as f:
        pickle.dump(result, f)


def on_two_ranks(worker, tmp_path):
    """``worker(rank)`` on ranks 0 and 1 (spawned processes: ``worker`` must be a
    module-level function); their results."""
    import torch.multiprocessing as mp

    init, out = f"file://{tmp_path}/init", str(tmp_path / "result")
    mp.spawn(_rank, args=(worker, init, out), nprocs=2, join=True)
    results = []
    for rank in range(2):
        with open(f"{out}.{rank}", "rb") as f:
            results.append(pickle.load(f))
    return results
