"""The environment check (环境检查) and target verification (应用验真) before a capture."""
