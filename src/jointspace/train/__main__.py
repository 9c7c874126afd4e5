import sys

from jointspace.train.main import main

sys.exit(main())
