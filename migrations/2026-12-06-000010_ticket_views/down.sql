DROP TABLE ticket_views;
