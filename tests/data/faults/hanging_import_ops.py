"""Test plugin: its import never finishes."""
import time

while True:
    time.sleep(0.05)
