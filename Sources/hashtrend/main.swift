print("hashtrend")
