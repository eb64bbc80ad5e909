from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('guilds', '0004_guild_search_hides_banned'),
    ]

    operations = [
        migrations.AddField(
            model_name='guild',
            name='show_ban_reasons',
            field=models.BooleanField(default=False, help_text='A banned member who opens the guild is told the reason the moderator gave'),
        ),
    ]
