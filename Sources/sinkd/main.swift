print("sinkd")
