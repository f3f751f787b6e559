"""Offline report pieces shared by the simulator's and the warehouse's reports: charts as inline
SVG (`svg`) and the HTML page around them (`page`), with no script and no external reference."""
