"""mixpref.targets: DPO training data from a lottery.

``mp.to_dpo_pairs`` (pairs with soft labels, weights and SPPO win probabilities),
``mp.resample_soft_labels`` (soft labels for trainers without them), and the writers
``mp.to_jsonl``, ``mp.to_parquet``, ``mp.to_trl_dataset``.
"""
