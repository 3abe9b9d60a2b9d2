"""A TrainFlow with no work in it: real Metaflow runs for the registry to tag, promote and roll back.

The registry only needs runs of a flow named TrainFlow that finished; training one per test would cost
minutes. (The real TrainFlow's registry path runs in tests/flows/test_trainflow.py.)
"""
from metaflow import FlowSpec, step


class TrainFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    TrainFlow()
