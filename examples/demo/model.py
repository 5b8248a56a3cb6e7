"""The built-in demo, as a model directory: `reactor render examples/demo -o demo.mp4`."""

from reactor_runtime.demo import DemoModel, DemoOutput, DemoStatus

__all__ = ["DemoModel", "DemoOutput", "DemoStatus"]
