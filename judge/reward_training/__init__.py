"""Training EditReward-shaped reward models on preference pairs (`rewardedit train-reward`).

config.py: the training configuration; data.py: the released data formats as one pair record;
losses.py: the pairwise losses; model_init.py: where the weights start; tuning.py: which weights
train (full, frozen vision tower, LoRA); batches.py: model inputs for pairs; trainer.py: the loop;
evaluation.py: tie-calibrated accuracy per dimension on held-out pairs; synth_pairs.py: preference
pairs from the synthetic world (`rewardedit synth-pairs`); cli.py: the subcommands.
"""
