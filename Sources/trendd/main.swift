print("trendd")
