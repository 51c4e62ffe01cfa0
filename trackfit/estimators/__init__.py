"""Estimators: the plugin hook, the plugin manager and catalogue, the built-ins (an ordinary
plugin), hyperparameters and search spaces."""
