"""``python -m mixpref``: the command line; under torchrun (WORLD_SIZE > 1) its sharded variant."""

import sys


def main():
    from .distributed.comm import launched

    if launched():
        from .cli.distributed import main as run
    else:
        from .cli import main as run
    return run()


if __name__ == "__main__":
    sys.exit(main())
