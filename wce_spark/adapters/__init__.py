"""Adapters: public logs in other layouts -> the contract's raw logs."""
