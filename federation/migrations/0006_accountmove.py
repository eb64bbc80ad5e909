import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("federation", "0005_federated_group"),
    ]

    operations = [
        migrations.CreateModel(
            name="AccountMove",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("old_uri", models.URLField(max_length=500, unique=True)),
                ("new_uri", models.URLField(max_length=500)),
                ("activity_uri", models.URLField(blank=True, max_length=500)),
                ("moved_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
    ]
