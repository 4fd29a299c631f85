import sys

from nsw_adapter.cli import main

sys.exit(main())
