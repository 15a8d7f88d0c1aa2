"""mixpref.data"""
