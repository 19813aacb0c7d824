"""netpol"""
