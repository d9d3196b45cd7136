"""Command-line entry point: `agentobs run|operator|receiver|migrate`."""

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentobs", description=__doc__)
    parser.parse_args(argv)
    return 0
