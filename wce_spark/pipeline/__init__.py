"""The daily retrain (CONTRACT "daily_retrain"): build D, train a candidate on the window without the
holdout, evaluate it and the published model on the same held-out impressions of D, gate, publish
atomically, and append one history line per run."""
