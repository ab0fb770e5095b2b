"""``timeseal capture …``: one module per kind of capture."""
