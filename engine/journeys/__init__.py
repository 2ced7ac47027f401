"""Journeys: versioned automation graphs that contacts flow through.

graph.py holds the model and its validation (every problem with its path, naming the
node or edge), settings.py the typed settings of each node type, conditions.py the branch
condition language (the segment rules plus facts about this run), waits.py the clock
arithmetic of waits, step.py the pure stepping function the runner executes, and
dates.py the date-property triggers. Nothing here does I/O.
"""
