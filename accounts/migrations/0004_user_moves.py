from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_user_is_bot"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="also_known_as",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="user",
            name="moved_to",
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name="user",
            name="moved_to_handle",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddField(
            model_name="user",
            name="moved_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
