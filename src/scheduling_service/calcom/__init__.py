"""The Cal.com webhook protocol: signatures and the parsing of deliveries."""
