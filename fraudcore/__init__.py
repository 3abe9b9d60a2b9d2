"""paylink-fraud core: schema, data, features, model, serving and monitoring logic.

Importing this package has no side effects: no folders, no logging setup, no clients.
"""

__version__ = "0.1.0"
