"""`rewardedit eval-reward`: any registered judge on the field's reward benchmarks for image editing."""
