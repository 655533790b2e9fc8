"""LoRA training of representation-rerouting defences: MOSR, its ablations and baselines."""
