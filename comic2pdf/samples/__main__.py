"""``python -m comic2pdf.samples DEST``: write the demo comics into DEST."""

from comic2pdf.samples import main

raise SystemExit(main())
